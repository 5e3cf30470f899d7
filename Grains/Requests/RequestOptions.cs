namespace ShopAstro.Grains.Requests;

/// <summary>Data-subject requests (§4(5)): configuration section <c>Requests</c>.</summary>
public sealed class RequestOptions
{
    public const string Section = "Requests";

    /// <summary>One calendar file in the shipped format; unset: the calendars built in.</summary>
    public string? Calendar { get; set; }

    /// <summary>A folder of calendar files (<c>*.json</c>, typically one per year), combined into one calendar.</summary>
    public string? CalendarFolder { get; set; }

    /// <summary>
    /// A due date that runs past the calendar's last covered day is refused (422 <c>calendar_not_covered</c>)
    /// unless this is set; then it is counted with weekends only and the request says <c>dueAtProvisional</c>.
    /// </summary>
    public bool AllowProvisionalDueDates { get; set; }

    /// <summary>
    /// §4(5) "repeated requests within a certain period": a request of the same type for the same subject received
    /// within this period after an earlier one is flagged as a repeat of it.
    /// </summary>
    public TimeSpan RepeatWindow { get; set; } = TimeSpan.FromDays(30);

}
