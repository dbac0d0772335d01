
clp_pump_abort
t0€€À
t1€€€
t2€€À

t3€€@
t4€€€
t5€€€
t6€€€

t7€€@

t8€€@
t9€€À
t10€€€
t11€€@
t12€€€
t13€€€
t14€€€
t15€€€
t16€€À@
k0test_opt0"t1*)
test_op
€€p
€€ "
kernelk0@
k1test_opt0"t2*)
test_op
€€p
€€0"
kernelk1@
k2test_opt1"t3*)
test_op
€€ 
€€"
kernelk2@
k3test_opt0"t4*)
test_op
€€p
€€`"
kernelk3M
k4test_opt2t3"t5*2
test_op
€€0
€€
€€@"
kernelk4M
k5test_opt5t1"t6*2
test_op
€€@
€€ 
€€ "
kernelk5M
k6test_opt2t0"t7*2
test_op
€€0
€€p
€€"
kernelk6M
k7test_opt4t6"t8*2
test_op
€€`
€€ 
€€"
kernelk7M
k8test_opt2t1"t9*2
test_op
€€0
€€ 
€€p"
kernelk8A
k9test_opt7"t10*)
test_op
€€
€€`"
kernelk9C
k10test_opt4"t11**
test_op
€€`
€€"
kernelk10P
k11test_opt4t1"t12*3
test_op
€€`
€€ 
€€@"
kernelk11D
k12test_opt10"t13**
test_op
€€`
€€@"
kernelk12P
k13test_opt9t4"t14*3
test_op
€€p
€€`
€€@"
kernelk13Q
k14test_opt13t6"t15*3
test_op
€€@
€€ 
€€@"
kernelk14C
k15test_opt1"t16**
test_op
€€ 
€€P"
kernelk15