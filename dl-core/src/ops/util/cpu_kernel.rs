use super::{UnaryKernel, UnaryOp};
use crate::cpu::{par_zip3_map, par_zip_map};
use crate::dtype::Float;
use crate::ops::mono::Host;

impl UnaryKernel for Host {
    fn unary_forward<E: Float, Op: UnaryOp>(&self, op: Op, x: &Vec<E>, y: &mut Vec<E>) {
        y.resize(x.len(), E::ZERO);
        par_zip_map(x, y, |v| op.f(v));
    }
    fn unary_backward<E: Float, Op: UnaryOp>(&self, op: Op, x: &Vec<E>, y: &Vec<E>, dy: &Vec<E>, dx: &mut Vec<E>) {
        dx.resize(x.len(), E::ZERO);
        par_zip3_map(x, y, dy, dx, |x, y, g| g * op.df(x, y));
    }
}
