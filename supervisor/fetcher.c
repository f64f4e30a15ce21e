/* placeholder until the module lands */
#include "config.h"
typedef int kf_placeholder_fetcher;
