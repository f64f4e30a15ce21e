#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_config(void) { return suite_create("config"); }
