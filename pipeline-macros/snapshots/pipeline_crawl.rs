#[doc(hidden)]
#[allow(non_camel_case_types)]
type __PipelineCrawl_pages = fetch;
#[doc(hidden)]
#[allow(non_camel_case_types)]
type __PipelineCrawl_counts = words;
#[doc(hidden)]
#[allow(non_camel_case_types)]
type __PipelineCrawl_sum = total;
/// Crawls pages.
#[derive(
    ::core::clone::Clone,
    ::core::marker::Copy,
    ::core::fmt::Debug,
    ::core::default::Default
)]
pub struct Crawl;
/// The inputs of the [`Crawl`] pipeline.
#[derive(
    ::core::clone::Clone,
    ::core::fmt::Debug,
    ::pipeline::__private::serde::Serialize,
    ::pipeline::__private::serde::Deserialize,
)]
#[serde(crate = "::pipeline::__private::serde")]
pub struct CrawlInputs {
    /// The pipeline input `urls`.
    pub urls: Vec<String>,
    /// The pipeline input `cfg`.
    pub cfg: Config,
}
/// The typed checkpoint of a run of [`Crawl`]: its inputs, and the recorded output of each node (`None` until the node has completed).
#[derive(
    ::core::fmt::Debug,
    ::pipeline::__private::serde::Serialize,
    ::pipeline::__private::serde::Deserialize,
)]
#[serde(crate = "::pipeline::__private::serde")]
pub struct CrawlCheckpoint {
    /// The pipeline input `urls`.
    pub urls: Vec<String>,
    /// The pipeline input `cfg`.
    pub cfg: Config,
    /// The output of node `pages` (`fetch`), once it has completed.
    #[serde(
        default,
        serialize_with = "::pipeline::__private::serialize_outputs::<__PipelineCrawl_pages, _>",
        deserialize_with = "::pipeline::__private::deserialize_outputs::<__PipelineCrawl_pages, _>"
    )]
    pub pages: ::core::option::Option<
        ::std::vec::Vec<<__PipelineCrawl_pages as ::pipeline::__private::Node>::Output>,
    >,
    /// The output of node `counts` (`words`), once it has completed.
    #[serde(
        default,
        serialize_with = "::pipeline::__private::serialize_outputs::<__PipelineCrawl_counts, _>",
        deserialize_with = "::pipeline::__private::deserialize_outputs::<__PipelineCrawl_counts, _>"
    )]
    pub counts: ::core::option::Option<
        ::std::vec::Vec<<__PipelineCrawl_counts as ::pipeline::__private::Node>::Output>,
    >,
    /// The output of node `sum` (`total`), once it has completed.
    #[serde(
        default,
        serialize_with = "::pipeline::__private::serialize_output::<__PipelineCrawl_sum, _>",
        deserialize_with = "::pipeline::__private::deserialize_output::<__PipelineCrawl_sum, _>"
    )]
    pub sum: ::core::option::Option<
        <__PipelineCrawl_sum as ::pipeline::__private::Node>::Output,
    >,
}
#[automatically_derived]
#[allow(clippy::clone_on_copy)]
impl ::core::clone::Clone for CrawlCheckpoint {
    fn clone(&self) -> Self {
        CrawlCheckpoint {
            urls: ::core::clone::Clone::clone(&self.urls),
            cfg: ::core::clone::Clone::clone(&self.cfg),
            pages: ::pipeline::__private::clone_outputs::<
                __PipelineCrawl_pages,
            >(&self.pages),
            counts: ::pipeline::__private::clone_outputs::<
                __PipelineCrawl_counts,
            >(&self.counts),
            sum: ::pipeline::__private::clone_output::<__PipelineCrawl_sum>(&self.sum),
        }
    }
}
const _: () = {
    #[automatically_derived]
    impl ::pipeline::__private::Pipeline for Crawl {
        type Inputs = CrawlInputs;
        type Output = usize;
        type Checkpoint = CrawlCheckpoint;
        fn graph(&self) -> ::pipeline::__private::Graph<CrawlInputs, usize> {
            static GRAPH: ::pipeline::__private::OnceLock<
                ::pipeline::__private::Graph<CrawlInputs, usize>,
            > = ::pipeline::__private::OnceLock::new();
            ::core::clone::Clone::clone(GRAPH.get_or_init(__pipeline_graph))
        }
    }
    #[automatically_derived]
    impl ::pipeline::__private::FromCheckpoint for CrawlCheckpoint {
        fn from_checkpoint(
            checkpoint: &::pipeline::__private::Checkpoint,
        ) -> ::core::result::Result<Self, ::pipeline::__private::serde_json::Error> {
            ::pipeline::__private::typed_checkpoint(checkpoint)
        }
    }
    const __PIPELINE_FINGERPRINT: u64 = ::pipeline::__private::Fingerprint::new()
        .input("urls", "Vec<String>")
        .input("cfg", "Config")
        .mapped_node(
            "pages",
            <__PipelineCrawl_pages as ::pipeline::__private::Node>::NAME,
            &["each urls", "cfg"],
            &[],
            <__PipelineCrawl_pages as ::pipeline::__private::Node>::OUTPUT_TYPE,
        )
        .version(<__PipelineCrawl_pages as ::pipeline::__private::Node>::VERSION)
        .mapped_node(
            "counts",
            <__PipelineCrawl_counts as ::pipeline::__private::Node>::NAME,
            &["each pages"],
            &["pages"],
            <__PipelineCrawl_counts as ::pipeline::__private::Node>::OUTPUT_TYPE,
        )
        .version(<__PipelineCrawl_counts as ::pipeline::__private::Node>::VERSION)
        .node(
            "sum",
            <__PipelineCrawl_sum as ::pipeline::__private::Node>::NAME,
            &["counts"],
            &[],
            <__PipelineCrawl_sum as ::pipeline::__private::Node>::OUTPUT_TYPE,
        )
        .version(<__PipelineCrawl_sum as ::pipeline::__private::Node>::VERSION)
        .finish();
    fn __pipeline_graph() -> ::pipeline::__private::Graph<CrawlInputs, usize> {
        let mut __pipeline_builder = ::pipeline::__private::GraphBuilder::<
            CrawlInputs,
        >::new("Crawl");
        let __pipeline_urls = ::pipeline::__private::add_input(
            &mut __pipeline_builder,
            "urls",
            "Vec<String>",
            |__pipeline_inputs: &CrawlInputs| ::core::clone::Clone::clone(
                &__pipeline_inputs.urls,
            ),
        );
        let __pipeline_cfg = ::pipeline::__private::add_input(
            &mut __pipeline_builder,
            "cfg",
            "Config",
            |__pipeline_inputs: &CrawlInputs| ::core::clone::Clone::clone(
                &__pipeline_inputs.cfg,
            ),
        );
        let __pipeline_pages = <__PipelineCrawl_pages as ::pipeline::__private::NodeWiring>::add_each_to(
            &mut __pipeline_builder,
            "pages",
            &[__pipeline_urls, __pipeline_cfg],
            0usize,
            ::core::option::Option::None,
        );
        let __pipeline_counts = <__PipelineCrawl_counts as ::pipeline::__private::NodeWiring>::add_each_to(
            &mut __pipeline_builder,
            "counts",
            &[__pipeline_pages],
            0usize,
            ::core::option::Option::Some((
                &[__pipeline_pages],
                ::pipeline::__private::gate(|__pipeline_values| {
                    let (pages,) = <(
                        ::std::vec::Vec<
                            <__PipelineCrawl_pages as ::pipeline::__private::Node>::Output,
                        >,
                    ) as ::pipeline::__private::NodeInputs>::from_values(
                        __pipeline_values,
                    )?;
                    let __pipeline_open: bool = !pages.is_empty();
                    ::core::option::Option::Some(__pipeline_open)
                }),
            )),
        );
        let __pipeline_sum = <__PipelineCrawl_sum as ::pipeline::__private::NodeWiring>::add_to(
            &mut __pipeline_builder,
            "sum",
            &[__pipeline_counts],
            ::core::option::Option::None,
        );
        ::pipeline::__private::build(
            __pipeline_builder,
            &[__pipeline_sum],
            ::pipeline::__private::single::<usize>,
        )
    }
    #[allow(unused_variables, unreachable_code, dead_code, clippy::all)]
    fn __pipeline_shadow(urls: Vec<String>, cfg: Config) -> usize {
        use ::pipeline::__private::ShadowCopy as _;
        let pages = ::pipeline::__private::each_shadow(
            urls.__pipeline_copy(),
            |__pipeline_item| <__PipelineCrawl_pages>::__pipeline_shadow(
                __pipeline_item,
                cfg.__pipeline_copy(),
            ),
        );
        let counts = ::pipeline::__private::each_shadow(
            pages.__pipeline_copy(),
            |__pipeline_item| <__PipelineCrawl_counts>::__pipeline_shadow(
                __pipeline_item,
            ),
        );
        let sum = <__PipelineCrawl_sum>::__pipeline_shadow(counts.__pipeline_copy());
        sum
    }
    ::pipeline::__private::inventory::submit! {
        ::pipeline::__private::PipelineInfo { name : "Crawl", doc : "Crawls pages.",
        module_path : ::core::module_path!(), file : ::core::file!(), line :
        ::core::line!(), inputs : & [::pipeline::__private::Param { name : "urls",
        type_name : "Vec<String>" }, ::pipeline::__private::Param { name : "cfg",
        type_name : "Config" }], output_type : "usize", nodes : &
        [::pipeline::__private::Binding { id : "pages", kind : "fetch" },
        ::pipeline::__private::Binding { id : "counts", kind : "words" },
        ::pipeline::__private::Binding { id : "sum", kind : "total" }], edges : &
        [("cfg", "pages"), ("urls", "pages"), ("pages", "counts"), ("counts", "sum")],
        fingerprint : __PIPELINE_FINGERPRINT, pipeline :
        ::pipeline::__private::dyn_pipeline:: < Crawl >, }
    }
};
