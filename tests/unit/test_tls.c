#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_tls(void) { return suite_create("tls"); }
