using Microsoft.Extensions.Diagnostics.HealthChecks;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Hosting;

/// <summary>
/// Degraded from <c>Requests:CalendarWarning</c> (60 days) before the working-day calendar's last covered day: after
/// it, requests whose due date runs past it are refused (422 calendar_not_covered) or provisional. Time comes
/// from the app's <see cref="TimeProvider"/>.
/// </summary>
internal sealed class CalendarCoverage(IGrainFactory grains, TimeProvider time, IConfiguration configuration) : IHealthCheck
{
    private readonly TimeSpan _warning = configuration.GetValue("Requests:CalendarWarning", TimeSpan.FromDays(60));

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var coveredUntil = await grains.GetGrain<IClusterHealthGrain>(0).CalendarCoveredUntil().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        if (coveredUntil is not { } until)
        {
            return HealthCheckResult.Degraded("The working-day calendar covers no year.");
        }

        var left = until.ToDateTime(TimeOnly.MaxValue, DateTimeKind.Utc) - time.GetUtcNow().UtcDateTime;
        var data = new Dictionary<string, object> { ["coveredUntil"] = until.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) };
        return left > _warning
            ? HealthCheckResult.Healthy($"The working-day calendar covers until {data["coveredUntil"]}.", data)
            : HealthCheckResult.Degraded(
                $"The working-day calendar covers until {data["coveredUntil"]}: add the next year's calendar (Requests:CalendarFolder).", data: data);
    }
}
