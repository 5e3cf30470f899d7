using Orleans.Concurrency;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>Reaches the consent store the grains write to.</summary>
public interface IStorageProbe
{
    Task CheckAsync(CancellationToken cancellationToken);
}

[StatelessWorker]
internal sealed class ClusterHealthGrain(IStorageProbe probe, Requests.WorkingDayCalendar calendar) : Grain, IClusterHealthGrain
{
    public async Task CheckStorage()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await probe.CheckAsync(timeout.Token);
    }

    public Task<DateOnly?> CalendarCoveredUntil() => Task.FromResult(calendar.CoveredUntil);
}
