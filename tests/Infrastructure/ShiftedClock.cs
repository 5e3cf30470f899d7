using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ShopAstro.Tests.Infrastructure;

/// <summary>
/// The system clock moved to another date: time still passes (timers and timeouts behave), but <c>now</c> reads
/// as if the process had started at the given instant.
/// </summary>
public sealed class ShiftedTimeProvider(DateTimeOffset now) : TimeProvider
{
    private readonly TimeSpan _shift = now - System.GetUtcNow();

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + _shift;
}

public static class ShiftedClock
{
    /// <summary>
    /// The same edge API whose health check <paramref name="name"/> is given a <see cref="TimeProvider"/> reading
    /// <paramref name="now"/>. Only that check: the co-hosted silo's membership (which reads the app's
    /// TimeProvider too) declares itself dead when the whole process's clock jumps weeks ahead.
    /// </summary>
    public static WebApplicationFactory<Program> WithHealthCheckClock(this EdgeApiFactory factory, string name, DateTimeOffset now) =>
        factory.WithWebHostBuilder(builder => builder.ConfigureTestServices(services =>
            services.Configure<HealthCheckServiceOptions>(options =>
            {
                var registration = options.Registrations.Single(r => r.Name == name);
                var original = registration.Factory;
                registration.Factory = provider =>
                {
                    var check = original(provider);
                    return (IHealthCheck)ActivatorUtilities.CreateInstance(provider, check.GetType(), new ShiftedTimeProvider(now));
                };
            })));
}
