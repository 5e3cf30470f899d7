namespace ShopAstro.EdgeApi.OpenApi;

/// <summary>
/// <c>GET /openapi/v1.json</c>: every <c>/v1</c> operation with its request and response schemas, its problem responses
/// and their codes, and the bearer token it needs; the Orleans dashboard and other internal routes stay out.
/// </summary>
public static class EdgeOpenApi
{
    public const string DocumentPath = "/openapi/v1.json";
    public const string BearerScheme = "bearer";
    public const string ApiPrefix = "v1/";

    public static IServiceCollection AddEdgeOpenApi(this IServiceCollection services) => services.AddOpenApi(options =>
    {
        options.ShouldInclude = description => description.RelativePath?.StartsWith(ApiPrefix, StringComparison.Ordinal) == true
            || description.ActionDescriptor.EndpointMetadata.OfType<PublicOperation>().Any();
        options.AddDocumentTransformer<EdgeDocument>();
        options.AddOperationTransformer<EdgeOperations>();
        options.AddSchemaTransformer<ContractSchemas>();
    });

    /// <summary>Documents a route outside <c>/v1</c> that needs no token (the GPC support file).</summary>
    public static RouteHandlerBuilder DocumentedAsPublic(this RouteHandlerBuilder builder) => builder.WithMetadata(new PublicOperation());

    internal sealed class PublicOperation;
}
