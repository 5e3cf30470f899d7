using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

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

/// <summary>The document's description, the bearer scheme, and the problem details schema every problem response names.</summary>
internal sealed class EdgeDocument : IOpenApiDocumentTransformer
{
    public async Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "ShopAstro consent and tracking-enforcement edge API",
            Version = "1",
            Description = "Consent decisions for storefronts and the recommendation pipeline, consent records, store policies and "
                + "data-subject requests. Errors are RFC 9457 problem details (application/problem+json) with a stable `code`. "
                + "Every /v1 operation needs `Authorization: Bearer <token>`; a token has a role (storefront, seller, admin) and "
                + "the stores it covers, and a token over its rate limit gets 429 with Retry-After.",
            License = new OpenApiLicense { Name = "Proprietary", Identifier = "LicenseRef-ShopAstro-Proprietary" },
        };
        document.Tags = new HashSet<OpenApiTag>
        {
            new() { Name = EdgeOperations.StoresTag, Description = "A store's decisions, subjects, policy, statistics and data-subject requests." },
            new() { Name = EdgeOperations.OperationsTag, Description = "Support files that need no token." },
        };

        // The server the document was asked from, as a base URL to which paths are appended.
        foreach (var server in document.Servers ?? [])
        {
            server.Url = server.Url?.TrimEnd('/');
        }

        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[EdgeOpenApi.BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "A token configured in Auth:Tokens (or the embedded default's data/admin-token).",
        };

        AddOperatorRoutes(document);
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        ContractSchemas.NamePurposeMembers(document);
        if (!document.Components.Schemas.ContainsKey(EdgeOperations.ProblemSchema))
        {
            document.Components.Schemas[EdgeOperations.ProblemSchema] = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken);
        }
    }

    /// <summary>
    /// The health checks and the Prometheus endpoint: routes without a handler method for the API explorer to read,
    /// described here, as operators and load balancers call them. No token; 413 as on every route.
    /// </summary>
    private static void AddOperatorRoutes(OpenApiDocument document)
    {
        var answers = OperationDocs.Strings(["Healthy", "Degraded"]);
        Add("/health", "GetHealth",
            "Every check: the cluster, and the working-day calendar's coverage (Degraded, still 200, from 60 days before it ends).", answers, unhealthy: true);
        Add("/health/live", "GetLiveness", "The process answers (no check runs).", OperationDocs.Strings(["Healthy"]), unhealthy: false);
        Add("/health/ready", "GetReadiness", "The cluster is reachable: the edge can answer.", answers, unhealthy: true);
        Add("/metrics", "GetMetrics", "Prometheus text format: checks, decision latency, consent writes, feed lag, ASP.NET Core, .NET and Orleans series.",
            new OpenApiSchema { Type = JsonSchemaType.String }, unhealthy: false);

        void Add(string path, string id, string summary, OpenApiSchema text, bool unhealthy)
        {
            var responses = new OpenApiResponses
            {
                ["200"] = Text("OK.", text),
                ["413"] = new OpenApiResponse
                {
                    Description = "The request body is over 1 MiB. `code`: `body_too_large`.",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        [ProblemResponses.ContentType] = new() { Schema = new OpenApiSchemaReference(EdgeOperations.ProblemSchema, document) },
                    },
                },
            };
            if (unhealthy)
            {
                responses["503"] = Text("A check failed.", OperationDocs.Strings(["Unhealthy"]));
            }

            document.Paths[path] = new OpenApiPathItem
            {
                Operations = new Dictionary<HttpMethod, OpenApiOperation>
                {
                    [HttpMethod.Get] = new()
                    {
                        OperationId = id,
                        Summary = summary,
                        Tags = new HashSet<OpenApiTagReference> { new(EdgeOperations.OperationsTag, document) },
                        Security = [],
                        Responses = responses,
                    },
                },
            };
        }

        static OpenApiResponse Text(string description, OpenApiSchema schema) => new()
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { ["text/plain"] = new() { Schema = schema } },
        };
    }
}

/// <summary>
/// Per operation: the bearer requirement of a route that requires authorization (with its 401, 403 and 429), the
/// codes of each problem response, the syntax of the route's ids, and Retry-After where a retry is the answer.
/// </summary>
internal sealed class EdgeOperations : IOpenApiOperationTransformer
{
    public const string StoresTag = "Stores";
    public const string OperationsTag = "Operations";
    public const string ProblemSchema = nameof(ProblemDetails);

    private static readonly ProblemCodes[] TokenProblems =
    [
        new(StatusCodes.Status401Unauthorized, ["unauthorized"]),
        new(StatusCodes.Status403Forbidden, ["forbidden"]),
        new(StatusCodes.Status429TooManyRequests, ["rate_limited"]),
    ];

    private static readonly Dictionary<int, string> Titles = new()
    {
        [400] = "The request is not valid.",
        [401] = "No valid bearer token.",
        [403] = "The token does not cover this store or operation.",
        [404] = "Not found.",
        [409] = "Conflict with the current state; nothing was changed.",
        [413] = "The request body is over 1 MiB.",
        [415] = "The body is not JSON.",
        [422] = "The request cannot be carried out as it stands.",
        [429] = "The token is over its rate limit; retry after Retry-After seconds.",
        [503] = "Storage or the cluster is unavailable; nothing was changed, retry after Retry-After seconds.",
    };

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var problems = metadata.OfType<ProblemCodes>().ToList();
        operation.Security = [];
        if (metadata.OfType<IAuthorizeData>().Any())
        {
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(EdgeOpenApi.BearerScheme, context.Document)] = [] });
            problems.AddRange(TokenProblems);
        }

        operation.RequestBody?.Content?.Remove(ProblemResponses.AnyContentType);
        operation.Responses ??= new OpenApiResponses();
        foreach (var byStatus in problems.GroupBy(p => p.Status).OrderBy(g => g.Key))
        {
            var codes = byStatus.SelectMany(p => p.Codes).Distinct().ToList();
            var response = new OpenApiResponse
            {
                Description = $"{Titles.GetValueOrDefault(byStatus.Key, "Problem.")} `code`: {string.Join(", ", codes.Select(c => $"`{c}`"))}.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    [ProblemResponses.ContentType] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, context.Document) },
                },
            };
            if (byStatus.Key is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable)
            {
                response.Headers = new Dictionary<string, IOpenApiHeader>
                {
                    ["Retry-After"] = new OpenApiHeader
                    {
                        Description = "Seconds to wait before retrying.",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
                    },
                };
            }

            operation.Responses[byStatus.Key.ToString(System.Globalization.CultureInfo.InvariantCulture)] = response;
        }

        // In status order, successes first, as a reader looks for them.
        var responses = operation.Responses.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        operation.Responses.Clear();
        foreach (var (status, response) in responses)
        {
            operation.Responses[status] = response;
        }

        foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
        {
            if (parameter.In == ParameterLocation.Path && parameter.Name is "storeId" or "subjectId" && parameter.Schema is OpenApiSchema id)
            {
                ContractSchemas.Ids(id);
                parameter.Description = parameter.Name == "storeId"
                    ? "The store: 1 to 128 characters of A-Z a-z 0-9 . _ : -"
                    : "The shopper: 1 to 128 characters of A-Z a-z 0-9 . _ : -; ids starting with anon: are anonymous visitors.";
            }
        }

        return Task.CompletedTask;
    }
}
