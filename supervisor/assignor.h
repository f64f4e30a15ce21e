/* placeholder until the module lands */
#ifndef KF_ASSIGNOR_H
#define KF_ASSIGNOR_H
#endif
