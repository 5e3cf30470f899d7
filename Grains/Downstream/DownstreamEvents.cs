using System.Text.Json;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Downstream;

/// <summary>
/// One event for the store's downstream systems, as committed with the change it reports (<see cref="Body"/> is the
/// exact JSON they receive and the signature covers).
/// </summary>
public sealed record OutboxEvent(string Id, string Type, string StoreId, string SubjectId, DateTimeOffset At, string Body);

/// <summary>
/// Which changes of a subject record the store's downstream systems are told of (§3(4): a third party that holds the
/// data is told to stop and delete): the one place that decides, from the record before and after a write.
/// </summary>
public static class DownstreamEvents
{
    public const string Withdrawal = "withdrawal";
    public const string Deletion = "deletion";
    public const string Cancellation = "cancellation";
    public const string Minor = "minor";

    /// <summary>Every event type, as the OpenAPI document's webhook lists them.</summary>
    public static readonly IReadOnlyList<string> Types = [Withdrawal, Deletion, Cancellation, Minor];

    /// <summary>
    /// A status change to erased, cancelled or minor is a deletion, cancellation or minor event; otherwise every purpose
    /// whose latest choice became a withdrawal (from a grant or from no choice) is one withdrawal event. Anything else
    /// (grants, a minor flag lifted, a tombstone stripped of linked ids) tells them nothing: null.
    /// </summary>
    public static OutboxEvent? Between(string storeId, string subjectId, SubjectRecord before, SubjectRecord after, DateTimeOffset at)
    {
        if (after.Status != before.Status && TypeOf(after.Status) is { } statusType)
        {
            return Create(storeId, subjectId, statusType, [], at);
        }

        if (after.Status != SubjectStatus.Active)
        {
            return null;
        }

        var withdrawn = Purposes.ConsentBased
            .Where(p => after.Consents.GetValueOrDefault(p) is { Granted: false }
                && before.Consents.GetValueOrDefault(p) is not { Granted: false })
            .ToArray();
        return withdrawn.Length == 0 ? null : Create(storeId, subjectId, Withdrawal, withdrawn, at);
    }

    private static string? TypeOf(SubjectStatus status) => status switch
    {
        SubjectStatus.Erased => Deletion,
        SubjectStatus.Cancelled => Cancellation,
        SubjectStatus.Minor => Minor,
        _ => null,
    };

    private static OutboxEvent Create(string storeId, string subjectId, string type, Purpose[] purposes, DateTimeOffset at)
    {
        var id = Guid.CreateVersion7(at).ToString("N");
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", id);
            json.WriteString("type", type);
            json.WriteString("storeId", storeId);
            json.WriteString("subjectId", subjectId);
            if (purposes.Length > 0)
            {
                json.WriteStartArray("purposes");
                foreach (var purpose in purposes)
                {
                    json.WriteStringValue(purpose.ToId());
                }

                json.WriteEndArray();
            }

            json.WriteString("at", at.UtcDateTime);
            json.WriteEndObject();
        }

        return new OutboxEvent(id, type, storeId, subjectId, at, System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }
}
