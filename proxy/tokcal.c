/* SPDX-License-Identifier: ISC */
/*
 * tokcal: see tokcal.h. The factor is the largest of the recent ratios
 * times TOKCAL_MARGIN, clamped, so a model whose prompts tokenise worse
 * than the estimate assumes raises every count, and one that tokenises
 * better lowers it, but never below what any recent request needed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tokcal.h"

#define TOKCAL_MARGIN	1.10
/*
 * The raw estimate assumes 3 characters a token; no real tokenizer gets
 * past 6 on real prompts, so a lower ratio means the upstream did not
 * count something (tools, say): do not follow it below one half.
 */
#define TOKCAL_MIN	0.5
#define TOKCAL_MAX	4.0

static struct tokcal_model *
tokcal_find(struct tokcal *tc, const char *model)
{
	int	 i;

	for (i = 0; i < tc->n; i++)
		if (strcmp(tc->m[i].model, model) == 0)
			return (&tc->m[i]);
	return (NULL);
}

void
tokcal_note(struct tokcal *tc, const char *model, int64_t upstream,
    int64_t estimate)
{
	struct tokcal_model	*m;
	int			 i, old;

	if (model == NULL || upstream <= 0 || estimate < TOKCAL_MIN_ESTIMATE ||
	    strlen(model) >= sizeof tc->m[0].model)
		return;
	if ((m = tokcal_find(tc, model)) == NULL) {
		if (tc->n < TOKCAL_MODELS)
			m = &tc->m[tc->n++];
		else {
			/* Full: the model used longest ago makes room. */
			old = 0;
			for (i = 1; i < tc->n; i++)
				if (tc->m[i].used < tc->m[old].used)
					old = i;
			m = &tc->m[old];
		}
		memset(m, 0, sizeof *m);
		snprintf(m->model, sizeof m->model, "%s", model);
	}
	m->ratio[m->next] = (double)upstream / (double)estimate;
	m->next = (m->next + 1) % TOKCAL_SAMPLES;
	if (m->n < TOKCAL_SAMPLES)
		m->n++;
	m->used = ++tc->tick;
}

double
tokcal_factor(struct tokcal *tc, const char *model)
{
	struct tokcal_model	*m;
	double			 f = 0;
	int			 i;

	if (model == NULL || (m = tokcal_find(tc, model)) == NULL ||
	    m->n == 0)
		return (0);
	for (i = 0; i < m->n; i++)
		if (m->ratio[i] > f)
			f = m->ratio[i];
	f *= TOKCAL_MARGIN;
	if (f < TOKCAL_MIN)
		f = TOKCAL_MIN;
	if (f > TOKCAL_MAX)
		f = TOKCAL_MAX;
	m->used = ++tc->tick;
	return (f);
}

int64_t
tokcal_apply(struct tokcal *tc, const char *model, int64_t estimate)
{
	double	 f;

	if ((f = tokcal_factor(tc, model)) == 0)
		return (estimate);
	/* Rounded up, but not for the last bits of a float product. */
	return ((int64_t)ceil((double)estimate * f - 1e-6));
}
