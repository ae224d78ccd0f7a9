/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for proxy/tokcal.c, the count_tokens calibration: without
 * samples an estimate is unchanged; with samples it is scaled by the
 * largest recent ratio plus a 10% margin (so it covers every recent
 * request), per model; small prompts and zero counts are not samples;
 * the ratio is clamped; only the last TOKCAL_SAMPLES samples count; when
 * every slot is taken the model used longest ago makes room.
 */
#include <stdio.h>
#include <string.h>

#include "tokcal.h"

#include "test.h"

TEST_IMPL(tokcal_scales_per_model)
{
	static struct tokcal	 tc;

	memset(&tc, 0, sizeof tc);
	ASSERT_EQ(tokcal_apply(&tc, "m", 1000), 1000);
	/* 600/1000 and 800/1000: the largest, 0.8, times 1.1. */
	tokcal_note(&tc, "m", 600, 1000);
	tokcal_note(&tc, "m", 800, 1000);
	ASSERT_EQ(tokcal_apply(&tc, "m", 1000), 880);
	ASSERT_LE(800, tokcal_apply(&tc, "m", 1000));
	/* An undercounting estimate is raised. */
	tokcal_note(&tc, "big", 3000, 1000);
	ASSERT_EQ(tokcal_apply(&tc, "big", 2000), 6600);
	/* Other models are untouched; small prompts are not samples. */
	ASSERT_EQ(tokcal_apply(&tc, "other", 1000), 1000);
	tokcal_note(&tc, "small", 5, TOKCAL_MIN_ESTIMATE - 1);
	tokcal_note(&tc, "small", 0, 5000);
	tokcal_note(&tc, NULL, 500, 1000);
	ASSERT_EQ(tokcal_factor(&tc, "small"), 0);
	/* Clamped both ways. */
	tokcal_note(&tc, "tiny", 1, 100000);
	ASSERT_EQ(tokcal_apply(&tc, "tiny", 1000), 500);
	tokcal_note(&tc, "huge", 100000, 1000);
	ASSERT_EQ(tokcal_apply(&tc, "huge", 1000), 4000);
}

TEST_IMPL(tokcal_recent_and_bounded)
{
	static struct tokcal	 tc;
	char			 name[32];
	int			 i;

	memset(&tc, 0, sizeof tc);
	/* An old high ratio ages out after TOKCAL_SAMPLES newer ones. */
	tokcal_note(&tc, "m", 2000, 1000);
	for (i = 0; i < TOKCAL_SAMPLES - 1; i++)
		tokcal_note(&tc, "m", 500, 1000);
	ASSERT_EQ(tokcal_apply(&tc, "m", 1000), 2200);
	tokcal_note(&tc, "m", 500, 1000);
	ASSERT_EQ(tokcal_apply(&tc, "m", 1000), 550);
	/* Fill every slot; "m" is used now, so model-1 is the oldest. */
	for (i = 1; i < TOKCAL_MODELS; i++) {
		snprintf(name, sizeof name, "model-%d", i);
		tokcal_note(&tc, name, 700, 1000);
	}
	ASSERT_EQ(tc.n, TOKCAL_MODELS);
	ASSERT_EQ(tokcal_apply(&tc, "m", 1000), 550);
	tokcal_note(&tc, "newcomer", 900, 1000);
	ASSERT_EQ(tc.n, TOKCAL_MODELS);
	ASSERT_EQ(tokcal_apply(&tc, "newcomer", 1000), 990);
	ASSERT_EQ(tokcal_apply(&tc, "model-1", 1000), 1000);
	ASSERT_EQ(tokcal_apply(&tc, "m", 1000), 550);
	ASSERT_EQ(tokcal_apply(&tc, "model-2", 1000), 770);
	/* Names too long to keep are not samples, and do not crash. */
	memset(name, 'x', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	tokcal_note(&tc, "a-model-name-far-longer-than-ninety-six-characters-"
	    "which-is-what-a-slot-holds-so-it-is-skipped-entirely-ok", 900,
	    1000);
	ASSERT_EQ(tc.n, TOKCAL_MODELS);
}
