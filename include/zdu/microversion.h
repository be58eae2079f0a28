/* OpenStack microversions: "MAJOR.MINOR", compared as numbers. */
#ifndef ZDU_MICROVERSION_H
#define ZDU_MICROVERSION_H

/* Compares microversions "2.93" and "2.100" numerically: <0, 0, >0. Returns
 * 0 and sets *ok = 0 when either is not MAJOR.MINOR. */
int zdu_microversion_cmp(const char *a, const char *b, int *ok);

#endif
