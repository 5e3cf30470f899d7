using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ShopAstro.EdgeApi.Telemetry;

public static class TelemetryExtensions
{
    /// <summary>true: the single check is counted in <c>http.server.request.duration</c> too (see <c>MapDecisionEndpoints</c>).</summary>
    public const string CheckRequestDurationKey = "Telemetry:CheckRequestDuration";

    /// <summary>Orleans' own meter and activity sources (grain calls carry the trace across processes).</summary>
    public static readonly string[] OrleansMeters = ["Microsoft.Orleans"];
    public static readonly string[] OrleansActivitySources = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    /// <summary>
    /// ASP.NET Core's meters on <c>/metrics</c>: those <c>AddAspNetCoreInstrumentation</c> adds that this application
    /// has (not Blazor's or Identity's), but for <c>Microsoft.AspNetCore.MemoryPool</c>. That one measures every
    /// buffer Kestrel rents and returns, several per request: 0.7 µs of the edge's 34 µs of CPU per single check
    /// (load-tests/results/20261206-edge-overheads.md). The memory it would show is in the runtime's heap and
    /// working-set series. Not <c>Microsoft.AspNetCore.RateLimiting</c>: its middleware is not used
    /// (<see cref="Auth.RateLimiting.UseTokenRateLimits"/>); rejected requests are the 429s of
    /// <c>http.server.request.duration</c>.
    /// </summary>
    public static readonly string[] AspNetCoreMeters =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Http.Connections",
        "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.Authentication",
        "Microsoft.AspNetCore.Authorization",
    ];

    /// <summary>
    /// Metrics (edge, ASP.NET Core, .NET runtime, Orleans) for the Prometheus endpoint <c>/metrics</c>, and
    /// traces from the HTTP request through the grain calls. Both go to OTLP as well when
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// </summary>
    public static WebApplicationBuilder AddEdgeTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<EdgeMetrics>();
        var otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(EdgeMetrics.MeterName)
                .AddMeter(OrleansMeters)
                .AddMeter(AspNetCoreMeters)
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());

        // Recording a span for every check costs throughput on the hot path; traces are on where someone
        // collects them (an OTLP endpoint, or Telemetry:Tracing=true).
        if (otlp || builder.Configuration.GetValue("Telemetry:Tracing", false))
        {
            telemetry.WithTracing(tracing => tracing
                .AddAspNetCoreInstrumentation(options => options.Filter = context => !context.Request.Path.StartsWithSegments("/metrics"))
                .AddSource(OrleansActivitySources));
        }

        if (otlp)
        {
            telemetry.UseOtlpExporter();
        }

        return builder;
    }

    public static WebApplication MapEdgeTelemetry(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
