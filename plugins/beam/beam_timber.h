/* SPDX-License-Identifier: MIT */
/*
 * Strength classes of structural timber:
 *  - solid timber, EN 338:2016: softwood C14..C50 (Table 1) and hardwood
 *    D18..D80 (Table 3), both graded in edgewise bending;
 *  - glued laminated timber, EN 14080:2013: combined GL20c..GL32c
 *    (Table 4) and homogeneous GL20h..GL32h (Table 5).
 * Strengths and moduli in MPa (the standards give E and G in kN/mm^2 for
 * solid timber: 11.0 kN/mm^2 = 11000 MPa), densities in kg/m^3.
 */
#ifndef JOBD_PLUGINS_BEAM_TIMBER_H
#define JOBD_PLUGINS_BEAM_TIMBER_H

#include <stddef.h>

enum timber_product { TIMBER_SOLID, TIMBER_GLULAM };

struct timber_class {
	const char *name;   /* "C24", "GL24h": the standard's spelling */
	const char *source; /* "EN 338:2016 Table 1" */
	enum timber_product product;
	double f_m_k;    /* bending strength */
	double f_t_0_k;  /* tension parallel to the grain */
	double f_c_0_k;  /* compression parallel to the grain */
	double f_v_k;    /* shear */
	double e_0_mean; /* mean modulus of elasticity parallel */
	double e_0_05;   /* its 5th percentile */
	double g_mean;   /* mean shear modulus */
	double rho_k;    /* characteristic density */
	double rho_mean; /* mean density */
};

/* The class called name, in any case ("c24", "gl24H"), or NULL. */
const struct timber_class *timber_class_find(const char *name);

/* The i-th class of the table, or NULL past the end (for listings). */
const struct timber_class *timber_class_at(size_t i);

#endif
