/* placeholder until the module lands */
#ifndef KF_FETCHER_H
#define KF_FETCHER_H
#endif
