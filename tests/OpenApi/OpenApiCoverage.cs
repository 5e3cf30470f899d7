using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace ShopAstro.Tests.OpenApi;

/// <summary>
/// Holds the app's <c>/v1</c> routes against the OpenAPI document: each must be documented with an operation id, a
/// summary, the bearer requirement, a typed success and the problem responses every store route can give.
/// </summary>
public static partial class OpenApiCoverage
{
    public const string ApiPrefix = "/v1/";
    public const string ProblemSchema = "#/components/schemas/ProblemDetails";

    /// <summary>Problem responses every <c>/v1</c> route can give: an invalid store id, no token, a token for another store, a body over 1 MiB, a token over its limit, an outage.</summary>
    public static readonly string[] EveryRouteProblems = ["400", "401", "403", "413", "429", "503"];

    public sealed record Report(int Operations, int Responses, int ProblemResponses, IReadOnlyList<string> Failures);

    public static Report Check(IEnumerable<Endpoint> endpoints, JsonNode document)
    {
        var failures = new List<string>();
        var operationIds = new HashSet<string>(StringComparer.Ordinal);
        var routed = new HashSet<(string Path, string Method)>();
        int operations = 0, responses = 0, problems = 0;
        foreach (var endpoint in endpoints.OfType<RouteEndpoint>())
        {
            var path = Template(endpoint.RoutePattern.RawText ?? "");
            if (!path.StartsWith(ApiPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods;
            if (methods is not { Count: > 0 })
            {
                failures.Add($"{path}: a /v1 route must name its HTTP method(s)");
                continue;
            }

            foreach (var method in methods.Select(m => m.ToLowerInvariant()))
            {
                routed.Add((path, method));
                var name = $"{method.ToUpperInvariant()} {path}";
                if (document["paths"]?[path]?[method] is not JsonObject operation)
                {
                    failures.Add($"{name} is not in the OpenAPI document");
                    continue;
                }

                operations++;
                var (counted, problemCount) = CheckOperation(name, operation, operationIds, failures);
                responses += counted;
                problems += problemCount;
            }
        }

        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            if (path.StartsWith("/orleans", StringComparison.Ordinal))
            {
                failures.Add($"{path}: the Orleans dashboard is not part of the API");
            }

            foreach (var (method, _) in item!.AsObject())
            {
                if (path.StartsWith(ApiPrefix, StringComparison.Ordinal) && !routed.Contains((path, method)))
                {
                    failures.Add($"{method.ToUpperInvariant()} {path} is documented but no route answers it");
                }
            }
        }

        return new Report(operations, responses, problems, failures);
    }

    private static (int Responses, int Problems) CheckOperation(string name, JsonObject operation, HashSet<string> operationIds, List<string> failures)
    {
        if (operation["operationId"]?.GetValue<string>() is not { Length: > 0 } id)
        {
            failures.Add($"{name}: no operationId (.WithName)");
        }
        else if (!operationIds.Add(id))
        {
            failures.Add($"{name}: operationId {id} is used twice");
        }

        if (operation["summary"]?.GetValue<string>() is not { Length: > 0 })
        {
            failures.Add($"{name}: no summary (.WithSummary)");
        }

        if (operation["security"] is not JsonArray security || !security.Any(r => r?["bearer"] is JsonArray))
        {
            failures.Add($"{name}: no bearer security requirement (does the route require authorization?)");
        }

        if (operation["responses"] is not JsonObject responses)
        {
            failures.Add($"{name}: no responses");
            return (0, 0);
        }

        var successes = responses.Where(r => r.Key.StartsWith('2')).ToList();
        if (successes.Count == 0)
        {
            failures.Add($"{name}: no documented success (.Produces<T>())");
        }

        foreach (var (status, success) in successes)
        {
            if (status != "204" && success?["content"]?["application/json"]?["schema"] is null)
            {
                failures.Add($"{name}: {status} has no JSON schema (.Produces<T>({status}))");
            }
        }

        foreach (var status in EveryRouteProblems.Where(s => responses[s] is null))
        {
            failures.Add($"{name}: no {status} problem response");
        }

        var problems = 0;
        foreach (var (status, response) in responses.Where(r => r.Key[0] is '4' or '5'))
        {
            problems++;
            if (response?["content"]?["application/problem+json"]?["schema"]?["$ref"]?.GetValue<string>() != ProblemSchema)
            {
                failures.Add($"{name}: {status} is not problem details (application/problem+json, {ProblemSchema})");
            }

            if (response?["description"]?.GetValue<string>()?.Contains("`code`:", StringComparison.Ordinal) != true)
            {
                failures.Add($"{name}: {status} does not list its codes");
            }
        }

        return (responses.Count, problems);
    }

    /// <summary>The route's template as OpenAPI writes paths: parameters without constraints, a leading slash.</summary>
    public static string Template(string route) => "/" + RouteParameter().Replace(route.TrimStart('/'), "{$1}");

    [GeneratedRegex(@"\{\*{0,2}([A-Za-z0-9_]+)[^}]*\}")]
    private static partial Regex RouteParameter();
}
