/* placeholder until the module lands */
#ifndef KF_GROUP_H
#define KF_GROUP_H
#endif
