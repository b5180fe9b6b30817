/* SPDX-License-Identifier: MIT */
/*
 * Strength classes of structural timber from EN 338:2016: softwood C14..C50
 * (Table 1) and hardwood D18..D80 (Table 3), both graded in edgewise
 * bending. Only the three values the beam check needs are kept.
 */
#ifndef JOBD_PLUGINS_BEAM_TIMBER_H
#define JOBD_PLUGINS_BEAM_TIMBER_H

#include <stddef.h>

struct timber_class {
	const char *name; /* "C24" */
	double f_m_k;     /* characteristic bending strength, MPa */
	double f_v_k;     /* characteristic shear strength, MPa */
	double e_0_mean;  /* mean modulus of elasticity parallel, MPa */
};

/* The class called name (case-sensitive, "C24"), or NULL. */
const struct timber_class *timber_class_find(const char *name);

/* The i-th class of the table, or NULL past the end (for listings). */
const struct timber_class *timber_class_at(size_t i);

#endif
