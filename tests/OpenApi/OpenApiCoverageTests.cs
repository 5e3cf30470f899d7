using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.OpenApi;

/// <summary>Every /v1 route of the app (its EndpointDataSource) is in the document, fully described.</summary>
public sealed class OpenApiCoverageTests(SqliteEdgeFixture fixture, ITestOutputHelper output) : IClassFixture<SqliteEdgeFixture>
{
    [Fact]
    public async Task Every_v1_route_is_documented_with_security_an_operation_id_and_its_responses()
    {
        var (endpoints, document) = await ReadAppAsync();

        var report = OpenApiCoverage.Check(endpoints, document);

        var all = document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject()).ToList();
        output.WriteLine($"OPENAPI: {report.Operations} /v1 operations, {report.Responses} responses ({report.ProblemResponses} problem responses) documented; "
            + $"the whole document: {all.Count} operations, {all.Sum(o => o.Value!["responses"]!.AsObject().Count)} responses");
        Assert.True(report.Failures.Count == 0, string.Join("\n", report.Failures));
        Assert.True(report.Operations >= 15, $"Only {report.Operations} /v1 operations were found: is the route table read?");
    }

    [Fact]
    public async Task A_v1_route_added_without_documentation_fails_the_check()
    {
        var (endpoints, document) = await ReadAppAsync();
        var undocumented = new RouteEndpoint(
            _ => Task.CompletedTask, RoutePatternFactory.Parse("/v1/stores/{storeId}/undocumented-example"), 0,
            new EndpointMetadataCollection(new HttpMethodMetadata([HttpMethods.Get])), "undocumented");

        var report = OpenApiCoverage.Check([.. endpoints, undocumented], document);

        Assert.Contains("GET /v1/stores/{storeId}/undocumented-example is not in the OpenAPI document", report.Failures);
    }

    [Fact]
    public async Task An_operation_without_security_or_problem_responses_fails_the_check()
    {
        var (endpoints, document) = await ReadAppAsync();
        var check = document["paths"]!["/v1/stores/{storeId}/subjects/{subjectId}/decisions"]!["get"]!.AsObject();
        check.Remove("security");
        check["responses"]!.AsObject().Remove("429");

        var report = OpenApiCoverage.Check(endpoints, document);

        Assert.Contains(report.Failures, f => f.StartsWith("GET /v1/stores/{storeId}/subjects/{subjectId}/decisions: no bearer security", StringComparison.Ordinal));
        Assert.Contains("GET /v1/stores/{storeId}/subjects/{subjectId}/decisions: no 429 problem response", report.Failures);
    }

    [Fact]
    public async Task The_document_leaves_out_the_orleans_dashboard_and_needs_no_token_for_its_public_operations()
    {
        var (_, document) = await ReadAppAsync();
        var paths = document["paths"]!.AsObject().Select(p => p.Key).ToList();

        Assert.DoesNotContain(paths, p => p.StartsWith("/orleans", StringComparison.Ordinal) || p.StartsWith("/hubs", StringComparison.Ordinal));
        Assert.All(paths.Where(p => !p.StartsWith(OpenApiCoverage.ApiPrefix, StringComparison.Ordinal)), path =>
            Assert.Empty(document["paths"]![path]!["get"]!["security"]!.AsArray()));
        Assert.Equal("bearer", document["components"]!["securitySchemes"]!["bearer"]!["scheme"]!.GetValue<string>());
    }

    private async Task<(List<Endpoint> Endpoints, JsonNode Document)> ReadAppAsync()
    {
        using var client = fixture.Factory.ClientWith(null);
        var document = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        var endpoints = fixture.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.ToList();
        return (endpoints, document);
    }
}
