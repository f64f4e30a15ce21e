#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_conn(void) { return suite_create("conn"); }
