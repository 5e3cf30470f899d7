using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ShopAstro.Silo;

namespace ShopAstro.Tests.Unit;

/// <summary>How the silo is put together, read from its service registrations.</summary>
public sealed class SiloHostingTests
{
    [Theory]
    [InlineData(null, false)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public void The_Orleans_dashboards_per_second_counter_sampler_runs_only_when_asked_for(string? setting, bool expected)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:Consent"] = "Data Source=" + Path.Combine(Path.GetTempPath(), "unused-" + Guid.NewGuid().ToString("N") + ".db");
        builder.Configuration[SiloHostingExtensions.DashboardCountersKey] = setting;
        builder.UseOrleans(silo => silo.AddConsentSilo(builder.Configuration));

        // "true" finding it also shows that the sampler is still recognised in the dashboard package's registrations.
        Assert.Equal(expected, builder.Services.Any(SiloHostingExtensions.IsDashboardSampler));
    }

    [Fact]
    public void The_embedded_default_runs_no_dashboard_counter_sampler()
    {
        var folder = Path.Combine(Path.GetTempPath(), "embedded-" + Guid.NewGuid().ToString("N"));
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder();
        builder.Configuration["ConnectionStrings:Consent"] = "Data Source=" + Path.Combine(folder, "consent.db");
        builder.Configuration["Auth:Tokens:0:Token"] = "unit-admin-token";
        builder.Configuration["Auth:Tokens:0:Role"] = "admin";
        ShopAstro.EdgeApi.EdgeApplication.AddEdgeApi(builder);

        Assert.DoesNotContain(builder.Services, SiloHostingExtensions.IsDashboardSampler);
        Assert.DoesNotContain(builder.Services, d => d.ServiceType == typeof(IHostedService)
            && (d.ImplementationType ?? d.ImplementationFactory?.Method.DeclaringType)?.Assembly.GetName().Name == "Orleans.Dashboard");
    }

    /// <summary>
    /// What the registrations are for: nothing reads Orleans' observable instruments on a timer (the dashboard's sampler
    /// did, once a second, and one of them counts the whole grain directory cache) unless the counters are asked for.
    /// A gauge of Orleans' own meter counts how often it is read while a silo runs.
    /// </summary>
    [Theory]
    [InlineData(null, false)]
    [InlineData("true", true)]
    public async Task Orleans_instruments_are_read_on_a_timer_only_when_the_dashboard_counters_are_asked_for(string? setting, bool expected)
    {
        var folder = Path.Combine(Path.GetTempPath(), "sampler-" + Guid.NewGuid().ToString("N"));
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:Consent"] = "Data Source=" + Path.Combine(folder, "consent.db");
        builder.Configuration[SiloHostingExtensions.DashboardCountersKey] = setting;
        builder.Configuration["Orleans:SiloPort"] = Infrastructure.EdgeApiFactory.FreePort().ToString();
        builder.Configuration["Orleans:GatewayPort"] = Infrastructure.EdgeApiFactory.FreePort().ToString();
        builder.UseOrleans(silo => silo.AddConsentSilo(builder.Configuration));
        using var host = builder.Build();
        var reads = 0;
        host.Services.GetRequiredService<Orleans.Runtime.OrleansInstruments>().Meter
            .CreateObservableGauge("shopastro-test-sampler-probe", () => Interlocked.Increment(ref reads));
        await host.StartAsync();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(3.5));
        }
        finally
        {
            await host.StopAsync();
        }

        Assert.Equal(expected, Volatile.Read(ref reads) > 0);
    }
}
