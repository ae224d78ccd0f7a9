/* SPDX-License-Identifier: ISC */
#ifndef TOKCAL_H
#define TOKCAL_H

/*
 * tokcal: per-model calibration of the local token estimate that answers
 * /v1/messages/count_tokens. Each relayed /v1/messages request whose
 * prompt was estimated the same way records the ratio between the
 * prompt tokens Copilot reported and the estimate; count_tokens scales
 * its estimate by the largest recent ratio of the model, plus a margin,
 * so that it stays on the high side (an undercount makes Claude Code
 * compact too late). Bounded: a fixed number of models, each with a ring
 * of recent samples; the model used longest ago makes room. Proxy thread
 * only.
 */

#include <stddef.h>
#include <stdint.h>

#define TOKCAL_MODELS	32
#define TOKCAL_SAMPLES	16
/* Smaller prompts are mostly fixed overhead: they would skew the ratio. */
#define TOKCAL_MIN_ESTIMATE 200

struct tokcal_model {
	char		 model[96];
	double		 ratio[TOKCAL_SAMPLES];
	int		 n;		/* samples held */
	int		 next;		/* ring position */
	uint64_t	 used;		/* tokcal tick of the last use */
};

struct tokcal {
	struct tokcal_model	 m[TOKCAL_MODELS];
	int			 n;
	uint64_t		 tick;
};

/* Records that a prompt estimated at estimate tokens cost upstream. */
void	 tokcal_note(struct tokcal *, const char *model, int64_t upstream,
	    int64_t estimate);
/* Returns estimate calibrated for model (unchanged without samples). */
int64_t	 tokcal_apply(struct tokcal *, const char *model, int64_t estimate);
/* Returns the factor applied for model, 0 if it has no samples. */
double	 tokcal_factor(struct tokcal *, const char *model);

#endif
