/* placeholder until the module lands */
#ifndef KF_DISPATCH_H
#define KF_DISPATCH_H
#endif
