/* placeholder until the module lands */
#ifndef KF_TRACKER_H
#define KF_TRACKER_H
#endif
