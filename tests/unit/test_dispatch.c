#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_dispatch(void) { return suite_create("dispatch"); }
