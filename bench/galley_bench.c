/* placeholder replaced by the benchmark program */
int main(void) { return 0; }
