
example-cnn-bs32
xÄÄ 
labelsÄ
conv1a.wÄ
conv1a.bÄ

conv1a.outÄÄÄ

relu1a.outÄÄÄ
conv1b.wÄ†
conv1b.bÄ

conv1b.outÄÄÄ

relu1b.outÄÄÄ
	pool1.outÄÄ@
conv2a.wÄ¿
conv2a.bÄ

conv2a.outÄÄÄ

relu2a.outÄÄÄ
conv2b.wÄÄ	
conv2b.bÄ

conv2b.outÄÄÄ

relu2b.outÄÄÄ
conv2c.wÄÄ	
conv2c.bÄ

conv2c.outÄÄÄ

relu2c.outÄÄÄ
	pool2.outÄÄ 
conv3a.wÄÄ
conv3a.bÄ

conv3a.outÄÄ@

relu3a.outÄÄ@
conv3b.wÄÄ$
conv3b.bÄ

conv3b.outÄÄ@

relu3b.outÄÄ@
	pool3.outÄÄ
fc.wÄÄ

fc.b(
fc.outÄ


loss

loss.probsÄ

fc.out.gradÄ

pool3.out.gradÄÄ
	fc.w.gradÄÄ
	fc.b.grad(
relu3b.out.gradÄÄ@
conv3b.out.gradÄÄ@
conv3b.w.gradÄÄ$
conv3b.b.gradÄ
relu3a.out.gradÄÄ@
conv3a.out.gradÄÄ@
conv3a.w.gradÄÄ
conv3a.b.gradÄ
pool2.out.gradÄÄ 
relu2c.out.gradÄÄÄ
conv2c.out.gradÄÄÄ
conv2c.w.gradÄÄ	
conv2c.b.gradÄ
relu2b.out.gradÄÄÄ
conv2b.out.gradÄÄÄ
conv2b.w.gradÄÄ	
conv2b.b.gradÄ
relu2a.out.gradÄÄÄ
conv2a.out.gradÄÄÄ
conv2a.w.gradÄ¿
conv2a.b.gradÄ
pool1.out.gradÄÄ@
relu1b.out.gradÄÄÄ
conv1b.out.gradÄÄÄ
conv1b.w.gradÄ†
conv1b.b.gradÄ
relu1a.out.gradÄÄÄ
conv1a.out.gradÄÄÄ
conv1a.w.gradÄ
conv1a.b.gradÄ
conv1a.w.nextÄ
conv1a.b.nextÄ
conv1b.w.nextÄ†
conv1b.b.nextÄ
conv2a.w.nextÄ¿
conv2a.b.nextÄ
conv2b.w.nextÄÄ	
conv2b.b.nextÄ
conv2c.w.nextÄÄ	
conv2c.b.nextÄ
conv3a.w.nextÄÄ
conv3a.b.nextÄ
conv3b.w.nextÄÄ$
conv3b.b.nextÄ
	fc.w.nextÄÄ
	fc.b.next(í

conv1a.fwd
conv2d_fwdxconv1a.wconv1a.b"
conv1a.out*U

conv2d_fwd
   
 
 
    "
kernel3"
pad1"
stride1N

relu1a.fwdrelu_fwd
conv1a.out"
relu1a.out*
relu_fwd
    
    õ

conv1b.fwd
conv2d_fwd
relu1a.outconv1b.wconv1b.b"
conv1b.out*U

conv2d_fwd
    
  
 
    "
kernel3"
pad1"
stride1N

relu1b.fwdrelu_fwd
conv1b.out"
relu1b.out*
relu_fwd
    
    p
	pool1.fwdmaxpool2d_fwd
relu1b.out"	pool1.out*=
maxpool2d_fwd
    
  "
kernel2"
stride2ö

conv2a.fwd
conv2d_fwd	pool1.outconv2a.wconv2a.b"
conv2a.out*U

conv2d_fwd
  
@ 
@
 @"
kernel3"
pad1"
stride1N

relu2a.fwdrelu_fwd
conv2a.out"
relu2a.out*
relu_fwd
 @
 @õ

conv2b.fwd
conv2d_fwd
relu2a.outconv2b.wconv2b.b"
conv2b.out*U

conv2d_fwd
 @
@@
@
 @"
kernel3"
pad1"
stride1N

relu2b.fwdrelu_fwd
conv2b.out"
relu2b.out*
relu_fwd
 @
 @õ

conv2c.fwd
conv2d_fwd
relu2b.outconv2c.wconv2c.b"
conv2c.out*U

conv2d_fwd
 @
@@
@
 @"
kernel3"
pad1"
stride1N

relu2c.fwdrelu_fwd
conv2c.out"
relu2c.out*
relu_fwd
 @
 @p
	pool2.fwdmaxpool2d_fwd
relu2c.out"	pool2.out*=
maxpool2d_fwd
 @
 @"
kernel2"
stride2ù

conv3a.fwd
conv2d_fwd	pool2.outconv3a.wconv3a.b"
conv3a.out*X

conv2d_fwd
 @	
Ä@
Ä	
 Ä"
kernel3"
pad1"
stride1P

relu3a.fwdrelu_fwd
conv3a.out"
relu3a.out* 
relu_fwd	
 Ä	
 Ä†

conv3b.fwd
conv2d_fwd
relu3a.outconv3b.wconv3b.b"
conv3b.out*Z

conv2d_fwd	
 Ä

ÄÄ
Ä	
 Ä"
kernel3"
pad1"
stride1P

relu3b.fwdrelu_fwd
conv3b.out"
relu3b.out* 
relu_fwd	
 Ä	
 Är
	pool3.fwdmaxpool2d_fwd
relu3b.out"	pool3.out*?
maxpool2d_fwd	
 Ä	
 Ä"
kernel2"
stride2d
fc.fwd
linear_fwd	pool3.outfc.wfc.b"fc.out*/

linear_fwd	
 Ä

Ä


 
m
loss.fwdsoftmax_xent_fwdfc.outlabels"loss"
loss.probs*-
softmax_xent_fwd
 

 
 
h
loss.bwdsoftmax_xent_bwd
loss.probslabels"fc.out.grad*)
softmax_xent_bwd
 

 
 
p
fc.bwd_datalinear_bwd_datafc.out.gradfc.w"pool3.out.grad*-
linear_bwd_data
 


Ä	
 Äà
fc.bwd_weightlinear_bwd_weightfc.out.grad	pool3.out"	fc.w.grad"	fc.b.grad*6
linear_bwd_weight
 
	
 Ä

Ä

ì
	pool3.bwdmaxpool2d_bwdpool3.out.grad
relu3b.out"relu3b.out.grad*J
maxpool2d_bwd	
 Ä	
 Ä	
 Ä"
kernel2"
stride2q

relu3b.bwdrelu_bwdrelu3b.out.grad
relu3b.out"conv3b.out.grad*+
relu_bwd	
 Ä	
 Ä	
 Äƒ
conv3b.bwd_filterconv2d_bwd_filterconv3b.out.grad
relu3a.out"conv3b.w.grad"conv3b.b.grad*a
conv2d_bwd_filter	
 Ä	
 Ä

ÄÄ
Ä"
kernel3"
pad1"
stride1ß
conv3b.bwd_dataconv2d_bwd_dataconv3b.out.gradconv3b.w"relu3a.out.grad*W
conv2d_bwd_data	
 Ä

ÄÄ	
 Ä"
kernel3"
pad1"
stride1q

relu3a.bwdrelu_bwdrelu3a.out.grad
relu3a.out"conv3a.out.grad*+
relu_bwd	
 Ä	
 Ä	
 Ä¡
conv3a.bwd_filterconv2d_bwd_filterconv3a.out.grad	pool2.out"conv3a.w.grad"conv3a.b.grad*_
conv2d_bwd_filter	
 Ä
 @	
Ä@
Ä"
kernel3"
pad1"
stride1§
conv3a.bwd_dataconv2d_bwd_dataconv3a.out.gradconv3a.w"pool2.out.grad*U
conv2d_bwd_data	
 Ä	
Ä@
 @"
kernel3"
pad1"
stride1ê
	pool2.bwdmaxpool2d_bwdpool2.out.grad
relu2c.out"relu2c.out.grad*G
maxpool2d_bwd
 @
 @
 @"
kernel2"
stride2n

relu2c.bwdrelu_bwdrelu2c.out.grad
relu2c.out"conv2c.out.grad*(
relu_bwd
 @
 @
 @ø
conv2c.bwd_filterconv2d_bwd_filterconv2c.out.grad
relu2b.out"conv2c.w.grad"conv2c.b.grad*\
conv2d_bwd_filter
 @
 @
@@
@"
kernel3"
pad1"
stride1£
conv2c.bwd_dataconv2d_bwd_dataconv2c.out.gradconv2c.w"relu2b.out.grad*S
conv2d_bwd_data
 @
@@
 @"
kernel3"
pad1"
stride1n

relu2b.bwdrelu_bwdrelu2b.out.grad
relu2b.out"conv2b.out.grad*(
relu_bwd
 @
 @
 @ø
conv2b.bwd_filterconv2d_bwd_filterconv2b.out.grad
relu2a.out"conv2b.w.grad"conv2b.b.grad*\
conv2d_bwd_filter
 @
 @
@@
@"
kernel3"
pad1"
stride1£
conv2b.bwd_dataconv2d_bwd_dataconv2b.out.gradconv2b.w"relu2a.out.grad*S
conv2d_bwd_data
 @
@@
 @"
kernel3"
pad1"
stride1n

relu2a.bwdrelu_bwdrelu2a.out.grad
relu2a.out"conv2a.out.grad*(
relu_bwd
 @
 @
 @æ
conv2a.bwd_filterconv2d_bwd_filterconv2a.out.grad	pool1.out"conv2a.w.grad"conv2a.b.grad*\
conv2d_bwd_filter
 @
  
@ 
@"
kernel3"
pad1"
stride1¢
conv2a.bwd_dataconv2d_bwd_dataconv2a.out.gradconv2a.w"pool1.out.grad*S
conv2d_bwd_data
 @
@ 
  "
kernel3"
pad1"
stride1ê
	pool1.bwdmaxpool2d_bwdpool1.out.grad
relu1b.out"relu1b.out.grad*G
maxpool2d_bwd
  
    
    "
kernel2"
stride2n

relu1b.bwdrelu_bwdrelu1b.out.grad
relu1b.out"conv1b.out.grad*(
relu_bwd
    
    
    ø
conv1b.bwd_filterconv2d_bwd_filterconv1b.out.grad
relu1a.out"conv1b.w.grad"conv1b.b.grad*\
conv2d_bwd_filter
    
    
  
 "
kernel3"
pad1"
stride1£
conv1b.bwd_dataconv2d_bwd_dataconv1b.out.gradconv1b.w"relu1a.out.grad*S
conv2d_bwd_data
    
  
    "
kernel3"
pad1"
stride1n

relu1a.bwdrelu_bwdrelu1a.out.grad
relu1a.out"conv1a.out.grad*(
relu_bwd
    
    
    ∂
conv1a.bwd_filterconv2d_bwd_filterconv1a.out.gradx"conv1a.w.grad"conv1a.b.grad*\
conv2d_bwd_filter
    
   
 
 "
kernel3"
pad1"
stride1n
conv1a.w.sgd
sgd_updateconv1a.wconv1a.w.grad"conv1a.w.next**

sgd_update
 
 
 e
conv1a.b.sgd
sgd_updateconv1a.bconv1a.b.grad"conv1a.b.next*!

sgd_update
 
 
 n
conv1b.w.sgd
sgd_updateconv1b.wconv1b.w.grad"conv1b.w.next**

sgd_update
  
  
  e
conv1b.b.sgd
sgd_updateconv1b.bconv1b.b.grad"conv1b.b.next*!

sgd_update
 
 
 n
conv2a.w.sgd
sgd_updateconv2a.wconv2a.w.grad"conv2a.w.next**

sgd_update
@ 
@ 
@ e
conv2a.b.sgd
sgd_updateconv2a.bconv2a.b.grad"conv2a.b.next*!

sgd_update
@
@
@n
conv2b.w.sgd
sgd_updateconv2b.wconv2b.w.grad"conv2b.w.next**

sgd_update
@@
@@
@@e
conv2b.b.sgd
sgd_updateconv2b.bconv2b.b.grad"conv2b.b.next*!

sgd_update
@
@
@n
conv2c.w.sgd
sgd_updateconv2c.wconv2c.w.grad"conv2c.w.next**

sgd_update
@@
@@
@@e
conv2c.b.sgd
sgd_updateconv2c.bconv2c.b.grad"conv2c.b.next*!

sgd_update
@
@
@q
conv3a.w.sgd
sgd_updateconv3a.wconv3a.w.grad"conv3a.w.next*-

sgd_update	
Ä@	
Ä@	
Ä@h
conv3a.b.sgd
sgd_updateconv3a.bconv3a.b.grad"conv3a.b.next*$

sgd_update
Ä
Ä
Ät
conv3b.w.sgd
sgd_updateconv3b.wconv3b.w.grad"conv3b.w.next*0

sgd_update

ÄÄ

ÄÄ

ÄÄh
conv3b.b.sgd
sgd_updateconv3b.bconv3b.b.grad"conv3b.b.next*$

sgd_update
Ä
Ä
Ä[
fc.w.sgd
sgd_updatefc.w	fc.w.grad"	fc.w.next*'

sgd_update

Ä

Ä

ÄU
fc.b.sgd
sgd_updatefc.b	fc.b.grad"	fc.b.next*!

sgd_update





