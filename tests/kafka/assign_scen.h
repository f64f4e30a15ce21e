/* assign_scen: see assign_scen.c. */
#ifndef KF_ASSIGN_SCEN_H
#define KF_ASSIGN_SCEN_H

#include <stdio.h>

/* Read scenarios from in, run kfork's assignors on each, write the
 * answers to o.  A malformed line exits 2 with a message. */
void kf_assign_scenarios(FILE *in, FILE *o);

#endif
