using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using ShopAstro.EdgeApi.Hosting;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.OpenApi;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>Health, OpenAPI and the GPC support file: no token needed.</summary>
public static class OperationsEndpoints
{
    public static WebApplication MapOperationsEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        // Every check: the cluster, and the working-day calendar's coverage (Degraded, still 200, as it runs out).
        app.MapHealthChecks("/health");
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ClusterReadiness.Tag) });
        // The one document; other names fall through to routing's problem-details 404.
        app.MapOpenApi(EdgeOpenApi.DocumentPath);

        // The GPC specification's support resource: this site honours Sec-GPC.
        var lastUpdate = app.Configuration["Gpc:LastUpdate"] ?? "2026-11-27";
        app.MapGet("/.well-known/gpc.json", () => TypedResults.Json(new GpcSupport(true, lastUpdate), EdgeJsonContext.Default.GpcSupport))
            .WithName("GetGpcSupport")
            .WithSummary("The GPC specification's support resource: this site honours Sec-GPC.")
            .WithTags(EdgeOperations.OperationsTag)
            .Produces<GpcSupport>()
            .ProducesProblems(StatusCodes.Status403Forbidden, "forbidden")
            .ProducesProblems(StatusCodes.Status413PayloadTooLarge, "body_too_large")
            .DocumentedAsPublic();
        return app;
    }
}
