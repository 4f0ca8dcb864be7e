package id.go.siap.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import id.go.siap.core.PermitInfo
import id.go.siap.core.SiapCore
import java.text.NumberFormat
import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle
import java.util.Locale
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

private val indonesia: Locale = Locale.forLanguageTag("id-ID")

/** Rupiah without decimals, e.g. "Rp 150.000". */
fun rupiah(amount: ULong): String =
    NumberFormat.getCurrencyInstance(indonesia).apply { maximumFractionDigits = 0 }.format(amount.toLong())

/** A time from the core (an `Instant`), shown in the phone's time zone. */
fun date(at: Instant): String =
    DateTimeFormatter.ofLocalizedDateTime(FormatStyle.MEDIUM, FormatStyle.SHORT)
        .withLocale(indonesia)
        .withZone(ZoneId.systemDefault())
        .format(at)

/**
 * Permits cached on the phone (signed by the city, re-verified by the core): type, office, status,
 * the official fee, the deadline and whether it is overdue (the core decides, at its trusted time). Tap
 * for the timeline. The reads run in `produceState`, cancelled when the screen leaves.
 */
@Composable
fun PermitsScreen(core: SiapCore) {
    val permits by produceState<Result<List<PermitInfo>>?>(null, core) {
        value = withContext(Dispatchers.IO) { runCatching { core.permits() } }
    }
    var open by rememberSaveable { mutableStateOf<String?>(null) }
    when (val loaded = permits) {
        null -> Text("Memuat…", Modifier.padding(12.dp))
        else -> loaded.fold(
            onFailure = { Text(describe(it), Modifier.padding(12.dp)) },
            onSuccess = { list ->
                if (list.isEmpty()) Text("Belum ada izin. Sinkronkan dulu.", Modifier.padding(12.dp))
                LazyColumn {
                    items(list, key = { it.permitId }) { p ->
                        PermitRow(p, Modifier.clickable { open = if (open == p.permitId) null else p.permitId })
                        if (open == p.permitId) PermitTimeline(core, p.permitId)
                        HorizontalDivider()
                    }
                }
            },
        )
    }
}

@Composable
private fun PermitRow(p: PermitInfo, modifier: Modifier) {
    Column(modifier.fillMaxWidth().padding(12.dp)) {
        Row {
            Text(p.permitType, style = MaterialTheme.typography.titleMedium)
            Spacer(Modifier.weight(1f))
            if (p.overdue) Text("TERLAMBAT", color = MaterialTheme.colorScheme.error)
        }
        Text("${p.office} · ${p.status.label()}")
        Text("Biaya resmi: ${rupiah(p.officialFeeIdr)}")
        Text("Batas waktu: ${date(p.deadline)}")
    }
}

/** Detail from `permit(id)`, so the timeline is re-verified at the moment it is shown. */
@Composable
private fun PermitTimeline(core: SiapCore, id: String) {
    val detail by produceState<Result<PermitInfo>?>(null, id) {
        value = withContext(Dispatchers.IO) { runCatching { core.permit(id) } }
    }
    Column(Modifier.padding(start = 24.dp, end = 12.dp, bottom = 8.dp)) {
        detail?.fold(
            onSuccess = { p -> p.timeline.forEach { Text("${date(it.at)}  ${it.status.label()}  ${it.note}") } },
            onFailure = { Text(describe(it)) },
        )
    }
}
