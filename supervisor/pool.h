/* placeholder until the module lands */
#ifndef KF_POOL_H
#define KF_POOL_H
#endif
