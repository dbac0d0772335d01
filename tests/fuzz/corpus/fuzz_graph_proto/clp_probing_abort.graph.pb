
random
t0€€€
t1€€€
t2€€À
t3€€À
t4€€€B
k0test_opt0"t1*+
test_op
€€€
€€€"
kernelk0A
k1test_opt1"t2**
test_op
€€€
€€0"
kernelk1O
k2test_opt1t0"t3*4
test_op
€€€
€€€
€€0"
kernelk2M
k3test_opt3t2"t4*2
test_op
€€0
€€0
€€`"
kernelk3