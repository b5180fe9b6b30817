/* SPDX-License-Identifier: MIT */
#include "beam_timber.h"

#include <string.h>

/* EN 338:2016. C classes: Table 1; D classes: Table 3. Values in MPa
 * (E_0,mean in the standard is in kN/mm^2: 11.0 kN/mm^2 = 11000 MPa). */
static const struct timber_class classes[] = {
        {"C14", 14, 3.0, 7000},  {"C16", 16, 3.2, 8000},
        {"C18", 18, 3.4, 9000},  {"C20", 20, 3.6, 9500},
        {"C22", 22, 3.8, 10000}, {"C24", 24, 4.0, 11000},
        {"C27", 27, 4.0, 11500}, {"C30", 30, 4.0, 12000},
        {"C35", 35, 4.0, 13000}, {"C40", 40, 4.0, 14000},
        {"C45", 45, 4.0, 15000}, {"C50", 50, 4.0, 16000},
        {"D18", 18, 3.5, 9500},  {"D24", 24, 3.7, 10000},
        {"D27", 27, 3.8, 10500}, {"D30", 30, 3.9, 11000},
        {"D35", 35, 4.1, 12000}, {"D40", 40, 4.2, 13000},
        {"D45", 45, 4.4, 13500}, {"D50", 50, 4.5, 14000},
        {"D55", 55, 4.7, 15500}, {"D60", 60, 4.8, 17000},
        {"D65", 65, 5.0, 18500}, {"D70", 70, 5.0, 20000},
        {"D75", 75, 5.0, 22000}, {"D80", 80, 5.0, 24000},
};

const struct timber_class *timber_class_find(const char *name)
{
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strcmp(classes[i].name, name) == 0)
			return &classes[i];
	return NULL;
}

const struct timber_class *timber_class_at(size_t i)
{
	return i < sizeof(classes) / sizeof(classes[0]) ? &classes[i] : NULL;
}
