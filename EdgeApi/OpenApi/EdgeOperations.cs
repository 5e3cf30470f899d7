using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace ShopAstro.EdgeApi.OpenApi;

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

    /// <summary>Any route can meet a fault the exception handler does not classify (<see cref="Http.EdgeExceptionHandler"/>).</summary>
    private static readonly ProblemCodes InternalError = new(StatusCodes.Status500InternalServerError, ["internal_error"]);

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
        [500] = "A fault of the service, logged with the request's route; a write answered 500 may or may not have been stored.",
        [503] = "Storage or the cluster is unavailable or did not answer in time. A write answered 503 is not acknowledged and may or may not have been stored; retry after Retry-After seconds.",
    };

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var problems = metadata.OfType<ProblemCodes>().Append(InternalError).ToList();
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
