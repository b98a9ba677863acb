"""SynSense Xylo (Audio 2 / Audio 3 / IMU) as a deployment target; see docs/xylo.md."""
