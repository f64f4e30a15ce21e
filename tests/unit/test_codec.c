#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_codec(void) { return suite_create("codec"); }
