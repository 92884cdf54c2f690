// Links the per-header translation units; building it is the test.
int main() { return 0; }
