using Microsoft.Extensions.Logging;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// §2(3): an <c>anon:</c> visitor's row is deleted at most <see cref="ConsentClusterOptions.AnonymousRetention"/>
/// after its last write, by a durable reminder of its subject grain. The reminder is registered before any write
/// of the row, whatever the write (consent, age, cancellation, deletion), so that no anonymous row is ever stored
/// without a deletion date: a write whose registration fails is not made.
/// </summary>
internal sealed class AnonymousRetention(IGrainBase grain, ConsentClusterOptions settings, ILogger logger)
{
    public const string ReminderName = "anonymous-retention";

    private bool _registered;

    /// <summary>Before the write: throws <see cref="StorageUnavailableException"/> (and nothing is written) if it fails.</summary>
    public async Task BeforeWriteAsync()
    {
        if (_registered)
        {
            return;
        }

        try
        {
            await grain.RegisterOrUpdateReminder(ReminderName, Min(settings.AnonymousRetention, settings.AnonymousRetentionCheck), settings.AnonymousRetentionCheck);
        }
        catch (Exception exception) when (exception is not StorageUnavailableException)
        {
            throw new StorageUnavailableException($"The retention reminder could not be registered: {exception.GetType().Name}.");
        }

        _registered = true;
    }

    /// <summary>Deleting one check early keeps the promise "at most N": the next tick might come too late.</summary>
    public bool Due(DateTimeOffset? lastWrittenAt, DateTimeOffset now) =>
        lastWrittenAt is null || lastWrittenAt + settings.AnonymousRetention <= now + settings.AnonymousRetentionCheck;

    /// <summary>
    /// Once the row is gone: the reminder row names the visitor too. Should this fail, the reminder's next tick finds
    /// no row and removes itself.
    /// </summary>
    public async Task AfterRowDeletedAsync()
    {
        try
        {
            if (await grain.GetReminder(ReminderName) is { } reminder)
            {
                await grain.UnregisterReminder(reminder);
            }

            _registered = false;
        }
        catch (Exception exception)
        {
            logger.LogWarning(exception, "The retention reminder of a deleted visitor could not be removed; its next tick will.");
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
