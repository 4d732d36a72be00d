/// Counts orders.
async fn count(orders: Vec<Order>, ctx: NodeContext) -> anyhow::Result<usize> {
    Ok(orders.len())
}
#[doc(hidden)]
#[allow(non_camel_case_types)]
struct count {}
const _: () = {
    #[automatically_derived]
    impl ::pipeline::__private::Node for count {
        type Inputs = (Vec<Order>,);
        type Output = <anyhow::Result<usize> as ::pipeline::__private::Fallible>::Ok;
        const NAME: &'static str = "count";
        const OUTPUT_TYPE: &'static str = "usize";
        fn options() -> ::pipeline::__private::NodeOptions {
            ::pipeline::__private::node_options(
                3u32,
                ::core::option::Option::Some(
                    ::pipeline::__private::Duration::from_nanos(30000000000u64),
                ),
                ::core::option::Option::None,
                ::core::option::Option::None,
            )
        }
        #[allow(clippy::needless_borrow)]
        fn output_eq() -> ::core::option::Option<
            fn(&Self::Output, &Self::Output) -> bool,
        > {
            #[allow(unused_imports)]
            use ::pipeline::__private::{EqByCanonical as _, EqByValue as _};
            (&&::pipeline::__private::EqProbe::<
                <anyhow::Result<usize> as ::pipeline::__private::Fallible>::Ok,
            >::new())
                .value_eq()
        }
        #[allow(unused_variables)]
        #[inline]
        fn from_values(
            __pipeline_values: &[&::pipeline::__private::Value],
        ) -> ::core::option::Option<Self::Inputs> {
            ::core::option::Option::Some((
                ::pipeline::__private::input::<Vec<Order>>(__pipeline_values, 0usize)?,
            ))
        }
        #[allow(unused_variables)]
        fn call(
            __pipeline_inputs: Self::Inputs,
            __pipeline_ctx: ::pipeline::__private::NodeContext,
        ) -> ::pipeline::__private::NodeFuture<Self::Output> {
            let (__pipeline_arg0,) = __pipeline_inputs;
            ::std::boxed::Box::pin(async move {
                {
                    let __pipeline_result = count(__pipeline_arg0, __pipeline_ctx).await;
                    ::pipeline::__private::node_result(__pipeline_result)
                }
            })
        }
        #[allow(unused_variables)]
        fn call_erased(
            __pipeline_inputs: Self::Inputs,
            __pipeline_ctx: ::pipeline::__private::NodeContext,
        ) -> ::pipeline::__private::ErasedFuture {
            let (__pipeline_arg0,) = __pipeline_inputs;
            ::std::boxed::Box::pin(async move {
                let __pipeline_output: ::core::result::Result<
                    Self::Output,
                    ::pipeline::__private::NodeError,
                > = {
                    let __pipeline_result = count(__pipeline_arg0, __pipeline_ctx).await;
                    ::pipeline::__private::node_result(__pipeline_result)
                };
                __pipeline_output.map(::pipeline::__private::erase)
            })
        }
    }
    #[automatically_derived]
    impl count {
        #[doc(hidden)]
        #[allow(unused_variables, clippy::all)]
        pub fn __pipeline_shadow(
            orders: Vec<Order>,
        ) -> <anyhow::Result<usize> as ::pipeline::__private::Fallible>::Ok {
            ::core::unreachable!()
        }
    }
    ::pipeline::__private::inventory::submit! {
        ::pipeline::__private::NodeInfo { name : "count", module_path :
        ::core::module_path!(), file : ::core::file!(), line : ::core::line!(), inputs :
        & [::pipeline::__private::Param { name : "orders", type_name : "Vec<Order>" }],
        output_type : "usize", doc : "Counts orders.", blocking : false, }
    }
};
