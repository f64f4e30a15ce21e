#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_group(void) { return suite_create("group"); }
