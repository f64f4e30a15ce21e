/* placeholder until the module lands */
#ifndef KF_KFCONFIG_H
#define KF_KFCONFIG_H
#endif
