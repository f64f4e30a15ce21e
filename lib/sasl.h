/* placeholder until the module lands */
#ifndef KF_SASL_H
#define KF_SASL_H
#endif
