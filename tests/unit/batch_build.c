#include "config.h"
typedef int kf_placeholder_bb;
