/* placeholder until the module lands */
#ifndef KF_TLS_H
#define KF_TLS_H
#endif
