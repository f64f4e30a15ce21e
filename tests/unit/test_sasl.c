#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_sasl(void) { return suite_create("sasl"); }
