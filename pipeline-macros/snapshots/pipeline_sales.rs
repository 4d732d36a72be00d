#[doc(hidden)]
#[allow(non_camel_case_types)]
type __PipelineSales_orders = load;
#[doc(hidden)]
#[allow(non_camel_case_types)]
type __PipelineSales_sum = total;
#[doc(hidden)]
#[allow(non_camel_case_types)]
type __PipelineSales_n = count;
#[doc(hidden)]
#[allow(non_camel_case_types)]
type __PipelineSales_alert = page_oncall;
#[doc(hidden)]
#[allow(non_camel_case_types)]
type __PipelineSales_report = render;
/// Daily sales report.
#[derive(
    ::core::clone::Clone,
    ::core::marker::Copy,
    ::core::fmt::Debug,
    ::core::default::Default
)]
pub struct Sales;
/// The inputs of the [`Sales`] pipeline.
#[derive(
    ::core::clone::Clone,
    ::core::fmt::Debug,
    ::pipeline::__private::serde::Serialize,
    ::pipeline::__private::serde::Deserialize,
)]
#[serde(crate = "::pipeline::__private::serde")]
pub struct SalesInputs {
    /// The pipeline input `path`.
    pub path: String,
}
/// The typed checkpoint of a run of [`Sales`]: its inputs, and the recorded output of each node (`None` until the node has completed).
#[derive(
    ::core::fmt::Debug,
    ::pipeline::__private::serde::Serialize,
    ::pipeline::__private::serde::Deserialize,
)]
#[serde(crate = "::pipeline::__private::serde")]
pub struct SalesCheckpoint {
    /// The pipeline input `path`.
    pub path: String,
    /// The output of node `orders` (`load`), once it has completed.
    #[serde(
        default,
        serialize_with = "::pipeline::__private::serialize_output::<__PipelineSales_orders, _>",
        deserialize_with = "::pipeline::__private::deserialize_output::<__PipelineSales_orders, _>"
    )]
    pub orders: ::core::option::Option<
        <__PipelineSales_orders as ::pipeline::__private::Node>::Output,
    >,
    /// The output of node `sum` (`total`), once it has completed.
    #[serde(
        default,
        serialize_with = "::pipeline::__private::serialize_output::<__PipelineSales_sum, _>",
        deserialize_with = "::pipeline::__private::deserialize_output::<__PipelineSales_sum, _>"
    )]
    pub sum: ::core::option::Option<
        <__PipelineSales_sum as ::pipeline::__private::Node>::Output,
    >,
    /// The output of node `n` (`count`), once it has completed.
    #[serde(
        default,
        serialize_with = "::pipeline::__private::serialize_output::<__PipelineSales_n, _>",
        deserialize_with = "::pipeline::__private::deserialize_output::<__PipelineSales_n, _>"
    )]
    pub n: ::core::option::Option<
        <__PipelineSales_n as ::pipeline::__private::Node>::Output,
    >,
    /// The output of node `alert` (`page_oncall`), once it has completed.
    #[serde(
        default,
        serialize_with = "::pipeline::__private::serialize_output::<__PipelineSales_alert, _>",
        deserialize_with = "::pipeline::__private::deserialize_output::<__PipelineSales_alert, _>"
    )]
    pub alert: ::core::option::Option<
        <__PipelineSales_alert as ::pipeline::__private::Node>::Output,
    >,
    /// The output of node `report` (`render`), once it has completed.
    #[serde(
        default,
        serialize_with = "::pipeline::__private::serialize_output::<__PipelineSales_report, _>",
        deserialize_with = "::pipeline::__private::deserialize_output::<__PipelineSales_report, _>"
    )]
    pub report: ::core::option::Option<
        <__PipelineSales_report as ::pipeline::__private::Node>::Output,
    >,
}
#[automatically_derived]
#[allow(clippy::clone_on_copy)]
impl ::core::clone::Clone for SalesCheckpoint {
    fn clone(&self) -> Self {
        SalesCheckpoint {
            path: ::core::clone::Clone::clone(&self.path),
            orders: ::pipeline::__private::clone_output::<
                __PipelineSales_orders,
            >(&self.orders),
            sum: ::pipeline::__private::clone_output::<__PipelineSales_sum>(&self.sum),
            n: ::pipeline::__private::clone_output::<__PipelineSales_n>(&self.n),
            alert: ::pipeline::__private::clone_output::<
                __PipelineSales_alert,
            >(&self.alert),
            report: ::pipeline::__private::clone_output::<
                __PipelineSales_report,
            >(&self.report),
        }
    }
}
const _: () = {
    #[automatically_derived]
    impl ::pipeline::__private::Pipeline for Sales {
        type Inputs = SalesInputs;
        type Output = String;
        type Checkpoint = SalesCheckpoint;
        fn graph(&self) -> ::pipeline::__private::Graph<SalesInputs, String> {
            static GRAPH: ::pipeline::__private::OnceLock<
                ::pipeline::__private::Graph<SalesInputs, String>,
            > = ::pipeline::__private::OnceLock::new();
            ::core::clone::Clone::clone(GRAPH.get_or_init(__pipeline_graph))
        }
    }
    #[automatically_derived]
    impl ::pipeline::__private::FromCheckpoint for SalesCheckpoint {
        fn from_checkpoint(
            checkpoint: &::pipeline::__private::Checkpoint,
        ) -> ::core::result::Result<Self, ::pipeline::__private::serde_json::Error> {
            ::pipeline::__private::typed_checkpoint(checkpoint)
        }
    }
    const __PIPELINE_FINGERPRINT: u64 = ::pipeline::__private::Fingerprint::new()
        .input("path", "String")
        .node(
            "orders",
            <__PipelineSales_orders as ::pipeline::__private::Node>::NAME,
            &["path"],
            &[],
            <__PipelineSales_orders as ::pipeline::__private::Node>::OUTPUT_TYPE,
        )
        .version(<__PipelineSales_orders as ::pipeline::__private::Node>::VERSION)
        .node(
            "sum",
            <__PipelineSales_sum as ::pipeline::__private::Node>::NAME,
            &["orders"],
            &[],
            <__PipelineSales_sum as ::pipeline::__private::Node>::OUTPUT_TYPE,
        )
        .version(<__PipelineSales_sum as ::pipeline::__private::Node>::VERSION)
        .node(
            "n",
            <__PipelineSales_n as ::pipeline::__private::Node>::NAME,
            &["orders"],
            &[],
            <__PipelineSales_n as ::pipeline::__private::Node>::OUTPUT_TYPE,
        )
        .version(<__PipelineSales_n as ::pipeline::__private::Node>::VERSION)
        .node(
            "alert",
            <__PipelineSales_alert as ::pipeline::__private::Node>::NAME,
            &["sum"],
            &["sum"],
            <__PipelineSales_alert as ::pipeline::__private::Node>::OUTPUT_TYPE,
        )
        .version(<__PipelineSales_alert as ::pipeline::__private::Node>::VERSION)
        .node(
            "report",
            <__PipelineSales_report as ::pipeline::__private::Node>::NAME,
            &["sum", "n"],
            &[],
            <__PipelineSales_report as ::pipeline::__private::Node>::OUTPUT_TYPE,
        )
        .version(<__PipelineSales_report as ::pipeline::__private::Node>::VERSION)
        .finish();
    fn __pipeline_graph() -> ::pipeline::__private::Graph<SalesInputs, String> {
        let mut __pipeline_builder = ::pipeline::__private::GraphBuilder::<
            SalesInputs,
        >::new("Sales");
        let __pipeline_path = ::pipeline::__private::add_input(
            &mut __pipeline_builder,
            "path",
            "String",
            |__pipeline_inputs: &SalesInputs| ::core::clone::Clone::clone(
                &__pipeline_inputs.path,
            ),
        );
        let __pipeline_orders = <__PipelineSales_orders as ::pipeline::__private::NodeWiring>::add_to(
            &mut __pipeline_builder,
            "orders",
            &[__pipeline_path],
            ::core::option::Option::None,
        );
        let __pipeline_sum = <__PipelineSales_sum as ::pipeline::__private::NodeWiring>::add_to(
            &mut __pipeline_builder,
            "sum",
            &[__pipeline_orders],
            ::core::option::Option::None,
        );
        let __pipeline_n = <__PipelineSales_n as ::pipeline::__private::NodeWiring>::add_to(
            &mut __pipeline_builder,
            "n",
            &[__pipeline_orders],
            ::core::option::Option::None,
        );
        let __pipeline_alert = <__PipelineSales_alert as ::pipeline::__private::NodeWiring>::add_to(
            &mut __pipeline_builder,
            "alert",
            &[__pipeline_sum],
            ::core::option::Option::Some((
                &[__pipeline_sum],
                ::pipeline::__private::gate(|__pipeline_values| {
                    let (sum,) = <(
                        <__PipelineSales_sum as ::pipeline::__private::Node>::Output,
                    ) as ::pipeline::__private::NodeInputs>::from_values(
                        __pipeline_values,
                    )?;
                    let __pipeline_open: bool = sum > 1_000_000;
                    ::core::option::Option::Some(__pipeline_open)
                }),
            )),
        );
        let __pipeline_report = <__PipelineSales_report as ::pipeline::__private::NodeWiring>::add_to(
            &mut __pipeline_builder,
            "report",
            &[__pipeline_sum, __pipeline_n],
            ::core::option::Option::None,
        );
        ::pipeline::__private::build(
            __pipeline_builder,
            &[__pipeline_report],
            ::pipeline::__private::single::<String>,
        )
    }
    #[allow(unused_variables, unreachable_code, dead_code, clippy::all)]
    fn __pipeline_shadow(path: String) -> String {
        use ::pipeline::__private::ShadowCopy as _;
        let orders = <__PipelineSales_orders>::__pipeline_shadow(path.__pipeline_copy());
        let sum = <__PipelineSales_sum>::__pipeline_shadow(orders.__pipeline_copy());
        let n = <__PipelineSales_n>::__pipeline_shadow(orders.__pipeline_copy());
        let alert = <__PipelineSales_alert>::__pipeline_shadow(sum.__pipeline_copy());
        let report = <__PipelineSales_report>::__pipeline_shadow(
            sum.__pipeline_copy(),
            n.__pipeline_copy(),
        );
        report
    }
    ::pipeline::__private::inventory::submit! {
        ::pipeline::__private::PipelineInfo { name : "Sales", doc :
        "Daily sales report.", module_path : ::core::module_path!(), file :
        ::core::file!(), line : ::core::line!(), inputs : & [::pipeline::__private::Param
        { name : "path", type_name : "String" }], output_type : "String", nodes : &
        [::pipeline::__private::Binding { id : "orders", kind : "load" },
        ::pipeline::__private::Binding { id : "sum", kind : "total" },
        ::pipeline::__private::Binding { id : "n", kind : "count" },
        ::pipeline::__private::Binding { id : "alert", kind : "page_oncall" },
        ::pipeline::__private::Binding { id : "report", kind : "render" }], edges : &
        [("path", "orders"), ("orders", "sum"), ("orders", "n"), ("sum", "alert"), ("n",
        "report"), ("sum", "report")], fingerprint : __PIPELINE_FINGERPRINT, pipeline :
        ::pipeline::__private::dyn_pipeline:: < Sales >, }
    }
};
