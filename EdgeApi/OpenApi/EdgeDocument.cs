using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace ShopAstro.EdgeApi.OpenApi;

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
                + "Every /v1 operation needs `Authorization: Bearer <token>`; a token has a role (storefront, seller, partner, admin) and "
                + "the stores it covers (a partner's reads only the aggregates), and a token over its rate limit gets 429 with Retry-After. "
                + "The events sent to a store's downstream systems are the webhook `downstreamEvent`.",
            License = new OpenApiLicense { Name = "Proprietary", Identifier = "LicenseRef-ShopAstro-Proprietary" },
        };
        document.Tags = new HashSet<OpenApiTag>
        {
            new() { Name = EdgeOperations.StoresTag, Description = "A store's decisions, subjects, policy, statistics and data-subject requests." },
            new() { Name = EdgeOperations.OperationsTag, Description = "Health, metrics and the GPC support file: no token needed." },
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

        DownstreamWebhook.AddTo(document);
    }

    /// <summary>
    /// The health checks and the Prometheus endpoint: routes without a handler method for the API explorer to read,
    /// described here, as operators and load balancers call them. No token (a partner's is refused); 413 as on every route.
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
                ["403"] = Problem("A partner token is refused here (it reads only the aggregates). `code`: `forbidden`."),
                ["413"] = Problem("The request body is over 1 MiB. `code`: `body_too_large`."),
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

        OpenApiResponse Problem(string description) => new()
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                [ProblemResponses.ContentType] = new() { Schema = new OpenApiSchemaReference(EdgeOperations.ProblemSchema, document) },
            },
        };

        static OpenApiResponse Text(string description, OpenApiSchema schema) => new()
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { ["text/plain"] = new() { Schema = schema } },
        };
    }
}
