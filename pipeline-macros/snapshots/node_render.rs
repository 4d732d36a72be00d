fn render(total: i64, n: usize) -> String {
    format!("{n} orders, {total} cents")
}
#[doc(hidden)]
#[allow(non_camel_case_types)]
struct render {}
const _: () = {
    #[automatically_derived]
    impl ::pipeline::__private::Node for render {
        type Inputs = (i64, usize);
        type Output = String;
        const NAME: &'static str = "render";
        const OUTPUT_TYPE: &'static str = "String";
        fn options() -> ::pipeline::__private::NodeOptions {
            ::pipeline::__private::node_options(
                0u32,
                ::core::option::Option::None,
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
            (&&::pipeline::__private::EqProbe::<String>::new()).value_eq()
        }
        #[allow(unused_variables)]
        #[inline]
        fn from_values(
            __pipeline_values: &[&::pipeline::__private::Value],
        ) -> ::core::option::Option<Self::Inputs> {
            ::core::option::Option::Some((
                ::pipeline::__private::input::<i64>(__pipeline_values, 0usize)?,
                ::pipeline::__private::input::<usize>(__pipeline_values, 1usize)?,
            ))
        }
        #[allow(unused_variables)]
        fn call(
            __pipeline_inputs: Self::Inputs,
            __pipeline_ctx: ::pipeline::__private::NodeContext,
        ) -> ::pipeline::__private::NodeFuture<Self::Output> {
            let (__pipeline_arg0, __pipeline_arg1) = __pipeline_inputs;
            ::std::boxed::Box::pin(
                ::pipeline::__private::blocking(move || ::core::result::Result::Ok(
                    render(__pipeline_arg0, __pipeline_arg1),
                )),
            )
        }
        #[allow(unused_variables)]
        fn call_erased(
            __pipeline_inputs: Self::Inputs,
            __pipeline_ctx: ::pipeline::__private::NodeContext,
        ) -> ::pipeline::__private::ErasedFuture {
            let (__pipeline_arg0, __pipeline_arg1) = __pipeline_inputs;
            ::std::boxed::Box::pin(async move {
                let __pipeline_output: ::core::result::Result<
                    Self::Output,
                    ::pipeline::__private::NodeError,
                > = ::pipeline::__private::blocking(move || ::core::result::Result::Ok(
                        render(__pipeline_arg0, __pipeline_arg1),
                    ))
                    .await;
                __pipeline_output.map(::pipeline::__private::erase)
            })
        }
    }
    #[automatically_derived]
    impl render {
        #[doc(hidden)]
        #[allow(unused_variables, clippy::all)]
        pub fn __pipeline_shadow(total: i64, n: usize) -> String {
            ::core::unreachable!()
        }
    }
    ::pipeline::__private::inventory::submit! {
        ::pipeline::__private::NodeInfo { name : "render", module_path :
        ::core::module_path!(), file : ::core::file!(), line : ::core::line!(), inputs :
        & [::pipeline::__private::Param { name : "total", type_name : "i64" },
        ::pipeline::__private::Param { name : "n", type_name : "usize" }], output_type :
        "String", doc : "", blocking : true, }
    }
};
